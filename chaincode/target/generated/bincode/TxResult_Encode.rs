impl :: bincode :: Encode for TxResult
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.tx_id, encoder) ?; :: bincode ::
        Encode :: encode(&self.outcome, encoder) ?; core :: result :: Result
        :: Ok(())
    }
}