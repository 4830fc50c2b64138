impl :: bincode :: Encode for ProposeGovernanceTx
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.change, encoder) ?; core ::
        result :: Result :: Ok(())
    }
}