impl :: bincode :: Encode for IssueCodesTx
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.pool, encoder) ?; :: bincode ::
        Encode :: encode(&self.codes, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}