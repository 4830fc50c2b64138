impl :: bincode :: Encode for RollbackTx
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.redemption, encoder) ?; core ::
        result :: Result :: Ok(())
    }
}